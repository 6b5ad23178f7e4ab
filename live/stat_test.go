package live

import (
	"os"
	"strconv"
	"syscall"
)

func fileUID(st os.FileInfo) string {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return strconv.Itoa(int(s.Uid))
	}
	return "?"
}
