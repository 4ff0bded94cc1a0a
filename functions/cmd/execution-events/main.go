// Command execution-events is the execution-events function: a CloudEvent function (Pub/Sub messagePublished) that
// records Cloud Run job system log entries, delivered by a log sink, as execution outcomes in Firestore.
//
// Env: PORT (default 8080), RUNSOCK_PROJECT (or GOOGLE_CLOUD_PROJECT), RUNSOCK_FIRESTORE_DATABASE (default
// "(default)"), FIRESTORE_EMULATOR_HOST for the emulator.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"cloud.google.com/go/firestore"
	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"

	"github.com/runsock/runsock/functions/internal/executionevents"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{ReplaceAttr: cloudLoggingKeys}))
	if err := run(context.Background(), log); err != nil {
		log.Error("execution-events stopped", "error", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger) error {
	project := firstOf(os.Getenv("RUNSOCK_PROJECT"), os.Getenv("GOOGLE_CLOUD_PROJECT"))
	if project == "" {
		return fmt.Errorf("set RUNSOCK_PROJECT (or GOOGLE_CLOUD_PROJECT) to the project whose Firestore holds runsock's state")
	}
	database := firstOf(os.Getenv("RUNSOCK_FIRESTORE_DATABASE"), firestore.DefaultDatabaseID)
	fs, err := firestore.NewClientWithDatabase(ctx, project, database)
	if err != nil {
		return fmt.Errorf("firestore: %w", err)
	}
	defer fs.Close()
	rec := executionevents.NewRecorder(fs, log)
	if err := funcframework.RegisterCloudEventFunctionContext(ctx, "/", rec.HandleEvent); err != nil {
		return fmt.Errorf("register function: %w", err)
	}
	port := firstOf(os.Getenv("PORT"), "8080")
	log.Info("execution-events listening", "port", port)
	return funcframework.Start(port)
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// cloudLoggingKeys renames slog's keys to Cloud Logging's structured-log keys.
func cloudLoggingKeys(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 {
		switch a.Key {
		case slog.LevelKey:
			a.Key = "severity"
		case slog.MessageKey:
			a.Key = "message"
		}
	}
	return a
}
