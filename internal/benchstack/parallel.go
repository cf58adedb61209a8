package benchstack

import (
	"sync"
	"sync/atomic"
)

// Parallel calls do for every i in [from, to) from workers goroutines, each
// taking the next index when it is done with one. The first error stops the
// handing out of indexes and is returned once every worker has finished.
func Parallel(from, to, workers int, do func(i int) error) error {
	var next atomic.Int64
	next.Store(int64(from))
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= to {
					return
				}
				if err := do(i); err != nil {
					once.Do(func() { firstErr = err })
					next.Store(int64(to))
					return
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}
