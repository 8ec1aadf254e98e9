// Package leaderboard ranks an Experiment's succeeded trials by its
// objective and keeps the best K of them while the trials stream past, a
// page at a time: its memory grows with K, never with the number of trials.
// The kubectl plugin's leaderboard and the dashboard's both rank with it.
package leaderboard
