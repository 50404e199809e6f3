package mapping

import (
	"errors"
	"fmt"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// scalar converts a YAML scalar (a const or default in a mapping file) into the value a
// dossier or request would hold: !!str → string, !!int → integer, !!bool → bool.
// Floats, nulls and collections are refused: money has no fractions.
func scalar(n *yaml.Node, integer func(string) any) (any, error) {
	if n.Kind != yaml.ScalarNode {
		return nil, errors.New("want a single value, not a list or mapping")
	}
	switch n.ShortTag() {
	case "!!str":
		return n.Value, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, err
		}
		return b, nil
	case "!!int":
		i, err := strconv.ParseInt(n.Value, 10, 64)
		if err != nil || strconv.FormatInt(i, 10) != n.Value {
			return nil, fmt.Errorf("integer %q must be written in plain decimal", n.Value)
		}
		return integer(n.Value), nil
	default:
		return nil, fmt.Errorf("value %q: only strings, integers and booleans are allowed (quote it to make a string)", n.Value)
	}
}
