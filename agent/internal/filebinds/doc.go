// Package filebinds places single-file bind mounts (`-v ./config.yml:/etc/app/config.yml`): Cloud Run mounts
// directories only, so the control plane mounts the file's staging at a hidden directory and the agent, before the
// user's process starts, makes the destination a symlink to the file there (linkproto.EnvFileBinds). Reads and
// writes through the symlink reach the staging, whose changes localproxy writes back; `stat` of the destination
// shows a symlink, and a program that replaces the file by renaming another over it replaces the symlink.
//
// It runs no goroutines and imports only linkproto.
package filebinds
