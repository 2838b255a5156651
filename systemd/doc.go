// Package systemd holds no code: the folder is hrmd's unit, tmpfiles, shipped
// config and install.sh, the fleet's nats-server unit and config, and the .deb's
// control files (deb/). Its tests hold those files to what the service needs,
// with the real systemd-analyze, systemd-tmpfiles, useradd and nats-server.
package systemd
