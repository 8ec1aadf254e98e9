package search

// Direction numbers of the Sobol' sequence for dimensions 2 to 16, from the
// file new-joe-kuo-6.21201 of S. Joe and F. Y. Kuo,
// https://web.maths.unsw.edu.au/~fkuo/sobol/ ("Constructing Sobol sequences
// with better two-dimensional projections", SIAM J. Sci. Comput. 30,
// 2635-2654, 2008). Dimension 1 has every m_k = 1 and is not in the file.
// They are data: each row is the file's line d s a m_1 ... m_s, for
// d = 2..16. The file comes with this licence:
//
//	Copyright (c) 2008, Frances Y. Kuo and Stephen Joe
//	All rights reserved.
//
//	Redistribution and use in source and binary forms, with or without
//	modification, are permitted provided that the following conditions are met:
//
//	    * Redistributions of source code must retain the above copyright
//	      notice, this list of conditions and the following disclaimer.
//
//	    * Redistributions in binary form must reproduce the above copyright
//	      notice, this list of conditions and the following disclaimer in the
//	      documentation and/or other materials provided with the distribution.
//
//	    * Neither the names of the copyright holders nor the names of the
//	      University of New South Wales and the University of Waikato
//	      and its contributors may be used to endorse or promote products derived
//	      from this software without specific prior written permission.
//
//	THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS ``AS IS'' AND ANY
//	EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE IMPLIED
//	WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
//	DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDERS BE LIABLE FOR ANY
//	DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL DAMAGES
//	(INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR SERVICES;
//	LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER CAUSED AND
//	ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY, OR TORT
//	(INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE OF THIS
//	SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
var joeKuo = [MaxDimensions - 1]struct {
	// d is the dimension, 1-based as in the file.
	d int
	// s is the degree of the primitive polynomial.
	s int
	// a holds the polynomial's inner coefficients a_1 ... a_{s-1}, a_1 in
	// the most significant of its s-1 bits.
	a uint32
	// m holds the initial direction integers m_1 ... m_s.
	m []uint32
}{
	{2, 1, 0, []uint32{1}},
	{3, 2, 1, []uint32{1, 3}},
	{4, 3, 1, []uint32{1, 3, 1}},
	{5, 3, 2, []uint32{1, 1, 1}},
	{6, 4, 1, []uint32{1, 1, 3, 3}},
	{7, 4, 4, []uint32{1, 3, 5, 13}},
	{8, 5, 2, []uint32{1, 1, 5, 5, 17}},
	{9, 5, 4, []uint32{1, 1, 5, 5, 5}},
	{10, 5, 7, []uint32{1, 1, 7, 11, 19}},
	{11, 5, 11, []uint32{1, 1, 5, 1, 1}},
	{12, 5, 13, []uint32{1, 1, 1, 3, 11}},
	{13, 5, 14, []uint32{1, 3, 5, 5, 31}},
	{14, 6, 1, []uint32{1, 3, 3, 9, 7, 49}},
	{15, 6, 13, []uint32{1, 1, 1, 15, 21, 21}},
	{16, 6, 16, []uint32{1, 3, 1, 13, 27, 49}},
}
