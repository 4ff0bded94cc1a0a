// Package infracheck holds the Terraform root module in infra/ against the code it deploys, offline: it parses
// the HCL (hashicorp/hcl/v2), reads what the code needs (the Google APIs its Go imports call, the environment the
// control plane's config reads) and reports every mismatch at once. It also checks formatting the way
// `terraform fmt` does and that cloudbuild.yaml names only real builder images and files that exist.
//
// It imports no runsock package (the config package is internal to controlplane/; its EnvNames are read by
// running a small probe through `go run -overlay`), runs no goroutines and talks to no network.
package infracheck
