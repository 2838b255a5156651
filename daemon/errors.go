package daemon

import (
	"github.com/hrmd/hrmd/daemon/spool"
	"github.com/hrmd/hrmd/internal/errcode"
)

// Stable codes for what stops the daemon before it runs (as answer.Error).
const (
	CodeConfig = errcode.ConfigInvalid // hrmd.yaml is missing, unreadable or wrong
	CodeSpool  = spool.CodeUnusable    // a folder cannot be created or written
)

// Codes of the error files of inputs that are not task files at all.
const (
	codeNotRegular = errcode.NotRegularFile // a symbolic link, pipe, socket or device
	codeUnreadable = errcode.Unreadable     // it cannot be read
)
