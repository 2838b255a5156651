package daemon

// Stable codes for what stops the daemon before it runs (as answer.Error).
const (
	CodeConfig = "config_invalid" // hrmd.yaml is missing, unreadable or wrong
	CodeSpool  = "spool_unusable" // a folder cannot be created or written
)

// Codes of the error files of inputs that are not task files at all.
const (
	codeNotRegular  = "not_regular_file" // a symbolic link, pipe, socket or device
	codeUnreadable  = "unreadable"       // it cannot be read
	codeNameTooLong = "name_too_long"    // no room in the name for hrmd's endings
)
