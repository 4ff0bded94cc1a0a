// Package config reads the control plane's flags and environment once into a typed Config, validates it and
// reports every problem at once. No other package reads the environment. It imports no runsock package and runs
// no goroutines.
package config
