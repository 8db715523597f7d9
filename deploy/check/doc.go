// Package check verifies the deployment files under deploy/ with the tools
// that consume them: kustomize renders deploy/kubernetes as `kubectl apply -k`
// would, the Kubernetes API types decode every object strictly, the Pod
// Security admission library judges every pod against the restricted
// standard, and compose-go loads the Compose files as `docker compose config`
// does.
//
// It is a module of its own so that these libraries never become
// dependencies of the gateway. Run it from this directory:
//
//	go test ./...
package check
