package usage

import (
	"math/big"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	"github.com/streamspace/controlplane/pkg/storage/postgres"
)

// decimalPlaces of the decimals a usage shows; they are rounded, half away
// from zero, from exact sums.
const decimalPlaces = 4

var (
	secondsPerHour = big.NewRat(3600, 1)
	// milliCoreSecondsPerCoreHour and byteSecondsPerGiBHour turn the
	// recorded sums into core hours and GiB hours.
	milliCoreSecondsPerCoreHour = big.NewRat(1000*3600, 1)
	byteSecondsPerGiBHour       = new(big.Rat).SetInt(new(big.Int).Mul(big.NewInt(1<<30), big.NewInt(3600)))
)

// prices are the platform configuration's spec.pricing, parsed.
type prices struct {
	currency    string
	cpu, memory *big.Rat
	templates   map[string]*big.Rat
}

// pricesOf parses spec.pricing. Validation keeps prices readable; one that
// is not counts as 0.
func pricesOf(p stream.PricingConfiguration) prices {
	parse := func(s string) *big.Rat {
		r, err := stream.ParsePrice(s)
		if err != nil {
			return new(big.Rat)
		}
		return r
	}
	out := prices{currency: p.Currency, cpu: parse(p.CPUCoreHour), memory: parse(p.MemoryGiBHour), templates: map[string]*big.Rat{}}
	for _, t := range p.Templates {
		out.templates[t.Template] = parse(t.SessionHour)
	}
	return out
}

// usageOf is the Usage of one row of recorded usage within p: hours, core
// hours and GiB hours from the exact sums, and cost = hours × the
// template's sessionHour + core hours × cpuCoreHour + GiB hours ×
// memoryGiBHour.
func usageOf(row postgres.UsageRow, p period, price prices, measuredAt time.Time) stream.Usage {
	hours := new(big.Rat).Quo(row.Seconds, secondsPerHour)
	coreHours := new(big.Rat).Quo(row.CPUMilliSeconds, milliCoreSecondsPerCoreHour)
	gibHours := new(big.Rat).Quo(row.MemoryByteSeconds, byteSecondsPerGiBHour)
	cost := new(big.Rat)
	if hourPrice, ok := price.templates[row.Template]; ok {
		cost.Add(cost, new(big.Rat).Mul(hours, hourPrice))
	}
	cost.Add(cost, new(big.Rat).Mul(coreHours, price.cpu))
	cost.Add(cost, new(big.Rat).Mul(gibHours, price.memory))
	u := stream.Usage{
		ObjectMeta: metav1.ObjectMeta{Namespace: row.Namespace, Name: Name(row.User, row.Template)},
		Spec:       stream.UsageSpec{User: row.User, Template: row.Template, Period: p.name},
		Status: stream.UsageStatus{
			Sessions:       row.Sessions,
			SessionSeconds: new(big.Int).Quo(row.Seconds.Num(), row.Seconds.Denom()).Int64(),
			SessionHours:   hours.FloatString(decimalPlaces),
			CPUCoreHours:   coreHours.FloatString(decimalPlaces),
			MemoryGiBHours: gibHours.FloatString(decimalPlaces),
			Cost:           cost.FloatString(decimalPlaces),
			Currency:       price.currency,
			MeasuredAt:     metav1.NewTime(measuredAt.UTC()),
		},
	}
	if p.start != nil {
		start := metav1.NewTime(*p.start)
		u.Spec.Start = &start
	}
	if p.end != nil {
		end := metav1.NewTime(*p.end)
		u.Spec.End = &end
	}
	return u
}
