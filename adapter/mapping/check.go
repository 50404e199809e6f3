package mapping

import (
	"slices"
	"strings"
)

// crossCheck finds rules that disagree with each other: two rules writing one place, a value
// written where another rule builds an object, one request array filled from two dossier
// arrays (its elements would no longer line up), or an array used both with [] and [N].
func (l *loader) crossCheck(rules []rule) error {
	type seen struct {
		what string
		line int
	}
	exact := make(map[string]int)   // to text → line
	leaf := make(map[string]int)    // to shape → line
	arrays := make(map[string]seen) // to array shape → dossier array shape or "[N]"
	for _, r := range rules {
		if first, ok := exact[r.toText]; ok {
			return loadErr(l.file, r.line, "to %q is already written at line %d", r.toText, first)
		}
		exact[r.toText] = r.line
		leaf[r.to.shape(".")] = r.line
	}
	for _, r := range rules {
		level := 0
		for i, s := range r.to {
			prefix := r.to[:i+1].shape(".")
			if i < len(r.to)-1 {
				if first, ok := leaf[prefix]; ok {
					return loadErr(l.file, r.line, "to %q writes inside %q, which line %d sets as a value", r.toText, prefix, first)
				}
			}
			if !s.each && s.index < 0 {
				continue
			}
			what := "[N]"
			if s.each {
				what = sourceArray(r.from, level)
				level++
			}
			prev, ok := arrays[prefix]
			switch {
			case !ok:
				arrays[prefix] = seen{what, r.line}
			case prev.what == what:
			case prev.what == "[N]" || what == "[N]":
				return loadErr(l.file, r.line, "to %q: %s is used with [] here and with an index at line %d (or the reverse)", r.toText, prefix, prev.line)
			default:
				return loadErr(l.file, r.line, "to %q: %s is filled from %s here but from %s at line %d; its elements would not line up", r.toText, prefix, what, prev.what, prev.line)
			}
		}
	}
	return nil
}

// sourceArray is the shape of the dossier path up to its level-th "[]".
func sourceArray(p path, level int) string {
	for i, s := range p {
		if s.each {
			if level == 0 {
				return p[:i+1].shape("/")
			}
			level--
		}
	}
	return ""
}

// coverage makes sure every field of the dossier schema either reaches the request or is
// listed under unmapped with a reason, so a field added to a form cannot be dropped silently.
func (l *loader) coverage(rules []rule, unmapped []unmappedYAML, lines []int, topLine int) error {
	leaves, err := l.src.leaves()
	if err != nil {
		return loadErr(l.file, topLine, "dossier %v", err)
	}
	mapped := make(map[string]int)
	for _, r := range rules {
		if r.from != nil {
			if _, ok := mapped[r.from.shape("/")]; !ok {
				mapped[r.from.shape("/")] = r.line
			}
		}
	}
	skipped := make(map[string]bool)
	for i, u := range unmapped {
		p, err := parseSource(u.Path)
		switch {
		case err != nil:
			return loadErr(l.file, lines[i], "unmapped: %v", err)
		case !slices.Contains(leaves, p.shape("/")):
			return loadErr(l.file, lines[i], "unmapped: %q is not a value of the dossier schema", u.Path)
		case strings.TrimSpace(u.Reason) == "":
			return loadErr(l.file, lines[i], "unmapped: %q needs a reason", u.Path)
		case skipped[p.shape("/")]:
			return loadErr(l.file, lines[i], "unmapped: %q is listed twice", u.Path)
		}
		if line, ok := mapped[p.shape("/")]; ok {
			return loadErr(l.file, lines[i], "unmapped: %q is mapped at line %d", u.Path, line)
		}
		skipped[p.shape("/")] = true
	}
	var missing []string
	for _, leaf := range leaves {
		if _, ok := mapped[leaf]; !ok && !skipped[leaf] {
			missing = append(missing, leaf)
		}
	}
	if len(missing) > 0 {
		return loadErr(l.file, 0, "dossier fields neither mapped nor listed under unmapped: %s", strings.Join(missing, ", "))
	}
	return nil
}
