package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"slices"
	"strconv"

	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/daemon/config"
)

// checkConfig reads --config; else, without --home, /etc/hrmd/hrmd.yaml
// when there is one; the defaults stay when it cannot be read. --home and
// --model go over it, as hrmd run puts them.
func (d *doctor) checkConfig() {
	over, err := d.opts.place.over()
	if err != nil {
		d.add(checkFail, err.Error(), "pass a folder to --home")
	}
	defer over.Apply(&d.cfg)
	path := d.opts.place.configPath()
	switch {
	case path == "":
		d.add(checkInfo, "no config (--home without --config): checking the defaults with --home's folders",
			"pass --config FILE to check a configuration")
		return
	case *d.opts.place.config == "":
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			d.add(checkInfo, "no "+path+": checking the defaults", "pass --config FILE to check another configuration")
			return
		}
	}
	d.configFile = path
	cfg, err := config.Load(path)
	if err != nil {
		d.add(checkFail, answer.Message(err), "correct the key it names in "+path+
			"; systemd/hrmd.yaml lists every key with its default")
		return
	}
	d.cfg = cfg
	d.add(checkOK, path, "")
	for _, note := range cfg.Deprecated() {
		d.add(checkWarn, note, "edit "+path+": systemd/hrmd.yaml shows every key as it is written now")
	}
}

// setting says how to change key for the run the doctor checks: the flag
// that set it, or the key in the config in use, or, with none, in one
// to pass with --config.
func (d *doctor) setting(key string) string {
	folder := slices.Contains([]string{"inbox", "outbox", "spool", "tensorrt.engine_cache"}, key)
	switch {
	case folder && *d.opts.place.home != "":
		return "--home"
	case key == "model" && *d.opts.place.model != "":
		return "--model"
	}
	in := " in " + d.configFile
	if d.configFile == "" {
		in = " in a config passed with --config (none was read)"
	}
	if key == "model" {
		return "--model, or model:" + in + ","
	}
	return key + in
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
		shellCommand(append([]string{"sudo", "-u", "hrmd", "hrmd", "doctor"}, d.opts.args...))+
			" checks with the service's rights")
}
