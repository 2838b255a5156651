package config

import (
	"fmt"
	"strconv"

	"gopkg.in/yaml.v3"
)

// MaxBatch is inference.max_batch: MaxBatchAuto, or the rows a batch holds
// on every provider.
type MaxBatch int

// MaxBatchAuto lets the provider decide: 1 on the CPU, inference.gpu_batch
// on TensorRT or CUDA. It is the zero value, so a Config built in code
// without a batch gets what hrmd.yaml's default gives.
const MaxBatchAuto MaxBatch = 0

// maxBatchLimit bounds a batch: far beyond what fits a Jetson, and it keeps
// a typo (4000 for 4) from allocating gigabytes.
const maxBatchLimit = 256

const maxBatchFix = "use auto (1 on the CPU, inference.gpu_batch on the GPU) or a number of rows from 1 to 256"

// UnmarshalYAML takes auto or an integer; anything else is refused here,
// naming the key, rather than by yaml's generic type error.
func (b *MaxBatch) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("inference.max_batch (line %d) is not a value; %s", n.Line, maxBatchFix)
	}
	if n.Value == "auto" {
		*b = MaxBatchAuto
		return nil
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil || n.Tag != "!!int" {
		return fmt.Errorf("inference.max_batch is %q (line %d); %s", n.Value, n.Line, maxBatchFix)
	}
	if v < 1 || v > maxBatchLimit {
		return fmt.Errorf("inference.max_batch is %d (line %d); %s", v, n.Line, maxBatchFix)
	}
	*b = MaxBatch(v)
	return nil
}

// MarshalYAML writes what UnmarshalYAML reads.
func (b MaxBatch) MarshalYAML() (any, error) {
	if b == MaxBatchAuto {
		return "auto", nil
	}
	return int(b), nil
}

// String is "auto" or the number.
func (b MaxBatch) String() string {
	if b == MaxBatchAuto {
		return "auto"
	}
	return strconv.Itoa(int(b))
}

// validate checks a value set in code, which UnmarshalYAML did not see.
func (b MaxBatch) validate() error {
	if b < 0 || b > maxBatchLimit {
		return fmt.Errorf("inference.max_batch is %d; %s", int(b), maxBatchFix)
	}
	return nil
}
