package venues

import (
	"slices"
	"strings"

	"github.com/procurebot/procurebot"
)

func unknownVenue(name string, configured []string) error {
	if slices.Contains(Known(), name) {
		return procurebot.Invalidf("--provider %s: not configured (configured: %s); add providers.%s to the config", name, list(configured), name)
	}
	return procurebot.Invalidf("--provider %s: no such venue (known: %s)", name, strings.Join(Known(), ", "))
}

func list(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
