package probe

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The connector's system calls on its non-blocking sockets, made without
// telling Go's scheduler (RawSyscall): none of them blocks, but a connect
// or close on loopback runs the whole handshake or reset inline, about
// 30 to 40 us, long enough for the scheduler's monitor to take the
// processor away and wake another thread for it at every call (a fifth of
// pmtr's CPU with 1000 checks a second).

// sockaddr is addr as the kernel takes it.
type sockaddr struct {
	buf [unix.SizeofSockaddrInet6]byte
	len uintptr
}

func toSockaddr(addr netip.AddrPort) (family int, sa sockaddr) {
	port := addr.Port()
	if addr.Addr().Is4() {
		raw := (*unix.RawSockaddrInet4)(unsafe.Pointer(&sa.buf))
		raw.Family, raw.Addr = unix.AF_INET, addr.Addr().As4()
		p := (*[2]byte)(unsafe.Pointer(&raw.Port))
		p[0], p[1] = byte(port>>8), byte(port)
		sa.len = unix.SizeofSockaddrInet4
		return unix.AF_INET, sa
	}
	raw := (*unix.RawSockaddrInet6)(unsafe.Pointer(&sa.buf))
	raw.Family, raw.Addr = unix.AF_INET6, addr.Addr().As16()
	p := (*[2]byte)(unsafe.Pointer(&raw.Port))
	p[0], p[1] = byte(port>>8), byte(port)
	sa.len = unix.SizeofSockaddrInet6
	return unix.AF_INET6, sa
}

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func rawConnect(fd int, sa *sockaddr) error {
	_, _, e := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa.buf)), sa.len)
	return errnoErr(e)
}

// rawLingerZero has the socket reset its connection when closed.
func rawLingerZero(fd int) error {
	l := unix.Linger{Onoff: 1}
	_, _, e := unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_LINGER,
		uintptr(unsafe.Pointer(&l)), unsafe.Sizeof(l), 0)
	return errnoErr(e)
}

func rawClose(fd int) {
	unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
}
