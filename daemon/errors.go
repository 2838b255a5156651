package daemon

import "github.com/hrmd/hrmd/daemon/spool"

// Stable codes for what stops the daemon before it runs (as answer.Error).
const (
	CodeConfig = "config_invalid"   // hrmd.yaml is missing, unreadable or wrong
	CodeSpool  = spool.CodeUnusable // a folder cannot be created or written
)

// Codes of the error files of inputs that are not task files at all.
const (
	codeNotRegular = "not_regular_file" // a symbolic link, pipe, socket or device
	codeUnreadable = "unreadable"       // it cannot be read
)
