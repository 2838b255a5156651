package daemon

// Stable codes for what stops the daemon before it runs.
const (
	CodeConfig = "config_invalid" // hrmd.yaml is missing, unreadable or wrong
	CodeSpool  = "spool_unusable" // a folder cannot be created or written
	// CodeInputInvariant: the model answers the same whatever its input, and
	// inference.input_invariant is refuse.
	CodeInputInvariant = "model_input_invariant"
)

// Error is a daemon set-up failure with a stable code.
type Error struct {
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func (e *Error) Unwrap() error { return e.Err }
