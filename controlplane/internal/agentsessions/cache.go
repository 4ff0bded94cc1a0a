package agentsessions

import "sync"

// cache is a map safe for concurrent use: the wrapped images and the agents' credentials.
type cache[V any] struct {
	mu sync.Mutex
	m  map[string]V
}

func newCache[V any]() *cache[V] { return &cache[V]{m: map[string]V{}} }

func (c *cache[V]) get(k string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *cache[V]) put(k string, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k] = v
}

func (c *cache[V]) delete(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
}
