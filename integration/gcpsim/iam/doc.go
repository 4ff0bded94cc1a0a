// Package iam is gcpsim's Identity and Access Management for the resources of the services it simulates: a
// Binding grants a predefined role to a member on one resource (a repository, a bucket), as Terraform's
// google_*_iam_member does, and Allowed answers whether an identity holds a permission there. Each service (registry,
// storage) describes itself with a Service: its roles and their permissions, its role prefix, and whether a binding
// may name every resource of the project.
//
// It imports nothing from runsock and starts no goroutines.
package iam
