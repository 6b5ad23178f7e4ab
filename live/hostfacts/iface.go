package hostfacts

import (
	"fmt"
	"net"

	"pmtr/confgrammar"
)

// CheckInterfaces verifies every "report to ...@IFACE" names an interface
// that exists, can multicast and has an IPv4 address.
func CheckInterfaces(file string, cfg *confgrammar.Config) error {
	var errs confgrammar.ErrorList
	for _, s := range cfg.Reports {
		if s.Iface == "" {
			continue
		}
		if _, err := InterfaceAddr(s.Iface); err != nil {
			errs = append(errs, &confgrammar.Error{File: OrFile(s.File, file), Pos: s.Pos, Msg: err.Error()})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// InterfaceAddr is the IPv4 address of the interface name, which must
// exist and multicast.
func InterfaceAddr(name string) (net.IP, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("interface %s does not exist (see ip link)", name)
	}
	if ifi.Flags&net.FlagMulticast == 0 {
		return nil, fmt.Errorf("%s does not multicast (pick another interface)", name)
	}
	addrs, _ := ifi.Addrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			return n.IP.To4(), nil
		}
	}
	return nil, fmt.Errorf("interface %s has no IPv4 address", name)
}
