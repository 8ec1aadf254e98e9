package s3server

import "syscall"

// sysProcAttr has the kernel kill versitygw if the test process dies without
// calling Stop (a panic, a timeout, a SIGKILL), so that no server outlives
// its test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
