// kstatus reads one Kubernetes object as JSON on stdin and prints what the kstatus library
// (sigs.k8s.io/cli-utils/pkg/kstatus/status, the one Flux's health checks use) computes for it:
// {"status": "Current|InProgress|Failed|Terminating", "message": "..."}. tests/kstatus.rs runs
// it over live KafkaTopics and KafkaClusters.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

func main() {
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("reading stdin: %v", err)
	}
	var obj unstructured.Unstructured
	if err := obj.UnmarshalJSON(input); err != nil {
		fail("decoding the object: %v", err)
	}
	result, err := status.Compute(&obj)
	if err != nil {
		fail("computing the status: %v", err)
	}
	out, err := json.Marshal(map[string]string{
		"status":  result.Status.String(),
		"message": result.Message,
	})
	if err != nil {
		fail("encoding the result: %v", err)
	}
	fmt.Println(string(out))
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "kstatus: "+format+"\n", args...)
	os.Exit(2)
}
