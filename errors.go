package procurebot

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to a process exit status in cmd/procurebot:
// EINVALID → 2 (bad input), everything else → 1.
const (
	EINVALID    = "invalid"     // bad input: a file, line, key or flag is wrong
	ENOTVISIBLE = "not_visible" // a strategy asked for a price it could not yet know
	EINTERNAL   = "internal"    // anything else
)

// Error is a domain error with a machine-readable code and a human message
// that names what is wrong (file, line, column, key or flag).
type Error struct {
	Code    string
	Message string
	Err     error // optional wrapped cause
}

func (e *Error) Error() string {
	if e.Err != nil && e.Message == "" {
		return e.Err.Error()
	}
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalidf is shorthand for Errorf(EINVALID, ...).
func Invalidf(format string, args ...any) *Error {
	return Errorf(EINVALID, format, args...)
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	var c interface{ ErrorCode() string }
	if errors.As(err, &c) {
		return c.ErrorCode()
	}
	return EINTERNAL
}

// More error codes, for stores and payments.
const (
	ENOTFOUND    = "not_found"    // no such intent, lease or entry
	ECONFLICT    = "conflict"     // a concurrent change won, a lease is held, an intent moved
	EUNAVAILABLE = "unavailable"  // a backing service (Redis, RPC) cannot be reached
	ECAP         = "cap_exceeded" // a spend cap refused the spend
)
