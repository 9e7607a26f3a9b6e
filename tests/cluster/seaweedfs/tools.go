//go:build tools

// Package tools pins the SeaweedFS command built by tests/cluster/build-seaweedfs.
package tools

import (
	_ "github.com/seaweedfs/seaweedfs/weed"
)
