package engine_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/engram-bench/engram-bench/engine"
)

// Open a store, remember three memories, link two of them and recall by
// cue: the direct match is vivid, the memory linked to it is associated.
func Example() {
	dir, _ := os.MkdirTemp("", "engine-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	s, err := engine.Open(dir, engine.Options{Dim: 4, NoAutoLink: true})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	for _, m := range []engine.Memory{
		{ID: "paris", Content: "Paris is the capital of France", Embedding: []float32{1, 0, 0, 0}, Confidence: 0.9},
		{ID: "seine", Content: "The Seine flows through Paris", Embedding: []float32{0, 1, 0, 0}, Confidence: 0.8},
		{ID: "tokyo", Content: "Tokyo is the capital of Japan", Embedding: []float32{0, 0, 1, 0}, Confidence: 0.9},
	} {
		if err := s.Remember(ctx, "geo", m); err != nil {
			log.Fatal(err)
		}
	}
	if err := s.Associate(ctx, "geo", "paris", "seine", 0.9); err != nil {
		log.Fatal(err)
	}
	res, err := s.Recall(ctx, "geo", engine.RecallRequest{
		Embedding: []float32{0.95, 0.05, 0, 0}, Mode: engine.ModeHybrid, Threshold: 0.5,
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range res.Vivid {
		fmt.Printf("vivid %s %.2f\n", r.ID, r.Score)
	}
	for _, r := range res.Associated {
		fmt.Printf("associated %s %.2f via %v\n", r.ID, r.Activation, r.Path)
	}
	// Output:
	// vivid paris 1.00
	// associated seine 0.72 via [paris seine]
}
