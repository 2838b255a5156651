package config

import "path/filepath"

// Over are settings the command line puts over the config's (hrmd run and
// hrmd doctor --home, --model); a reload keeps them over the file read
// again. An empty one changes nothing.
type Over struct {
	// Home lays every folder hrmd writes under one folder, for a daemon
	// run from a clone by a user who cannot write /var: Home/inbox,
	// Home/outbox, the spool's work/, done/ and failed/ in Home (as in
	// /var/lib/hrmd), and the TensorRT engine cache Home/trt.
	Home  string
	Model string // the model bundle folder, over model:
}

// Apply puts o over c.
func (o Over) Apply(c *Config) {
	if o.Home != "" {
		c.Inbox, c.Outbox = filepath.Join(o.Home, "inbox"), filepath.Join(o.Home, "outbox")
		c.Spool, c.TensorRT.EngineCache = o.Home, filepath.Join(o.Home, "trt")
	}
	if o.Model != "" {
		c.Model = o.Model
	}
}

// Read is the config hrmd runs with: the file at path (Reload's rules at a
// SIGHUP, Load's at the start), or every default for path "", with o over it.
func (o Over) Read(path string, sighup bool) (Config, error) {
	cfg := Default()
	if path != "" {
		read := Load
		if sighup {
			read = Reload
		}
		var err error
		if cfg, err = read(path); err != nil {
			return cfg, err
		}
	}
	o.Apply(&cfg)
	return cfg, nil
}
