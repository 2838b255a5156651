package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strconv"

	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/daemon/config"
)

// checkConfig reads --config, else /etc/hrmd/hrmd.yaml when there is one;
// the defaults stay when it cannot be read.
func (d *doctor) checkConfig() {
	path := d.opts.config
	explicit := path != ""
	if !explicit {
		path = "/etc/hrmd/hrmd.yaml"
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			d.add(checkInfo, "no "+path+": checking the defaults", "pass --config FILE to check another configuration")
			return
		}
	}
	cfg, err := config.Load(path)
	if err != nil {
		d.add(checkFail, answer.Message(err), "correct the key it names; systemd/hrmd.yaml lists every key with its default")
		return
	}
	d.cfg = cfg
	d.add(checkOK, path, "")
	for _, note := range cfg.Deprecated() {
		d.add(checkWarn, note, "systemd/hrmd.yaml shows every key as it is written now")
	}
}

// checkUser says whose rights the checks use: folders and GPU devices that
// are fine for root can be closed to the service's own user.
func (d *doctor) checkUser() {
	name := strconv.Itoa(os.Geteuid())
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if name == "hrmd" {
		d.add(checkInfo, "checking as hrmd, the service's user", "")
		return
	}
	d.add(checkInfo, fmt.Sprintf("checking as %s; the service runs as hrmd", name),
		"sudo -u hrmd hrmd doctor --config /etc/hrmd/hrmd.yaml checks with the service's rights")
}
