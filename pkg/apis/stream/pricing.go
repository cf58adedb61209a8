package stream

import (
	"fmt"
	"math/big"
	"regexp"
)

// priceSyntax is a price of spec.pricing: a non-negative decimal with at
// most 12 digits on either side of the point, e.g. 0.035 or 12.
var priceSyntax = regexp.MustCompile(`^[0-9]{1,12}(\.[0-9]{1,12})?$`)

// ParsePrice reads a price of the platform configuration's spec.pricing
// exactly; empty is 0.
func ParsePrice(price string) (*big.Rat, error) {
	if price == "" {
		return new(big.Rat), nil
	}
	if !priceSyntax.MatchString(price) {
		return nil, fmt.Errorf("must be a non-negative decimal number such as 0.035")
	}
	r, ok := new(big.Rat).SetString(price)
	if !ok {
		return nil, fmt.Errorf("must be a non-negative decimal number such as 0.035")
	}
	return r, nil
}
