//go:build !linux

package s3server

import "syscall"

// sysProcAttr: only Linux can tie versitygw's life to the test process.
func sysProcAttr() *syscall.SysProcAttr { return nil }
