//go:build race && linux

package csv_test

func init() { raceEnabled = true }
