# Three identities, each with only what its code calls. infra/infracheck holds these grants against the code.

resource "google_service_account" "controlplane" {
  account_id   = "${var.service_name}-cp"
  display_name = "runsock control plane"

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "jobs" {
  account_id   = "${var.service_name}-jobs"
  display_name = "runsock containers (Cloud Run jobs)"

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "events" {
  account_id   = "${var.service_name}-events"
  display_name = "runsock execution-events function"

  depends_on = [google_project_service.enabled]
}

# Pub/Sub signs its push requests to the function with this account's identity token.
resource "google_service_account" "events_pusher" {
  account_id   = "${var.service_name}-push"
  display_name = "runsock execution-events push subscription"

  depends_on = [google_project_service.enabled]
}

# --- control plane ---

# Create, run (with overrides), cancel and delete jobs and executions.
resource "google_project_iam_member" "controlplane_run_developer" {
  project = var.project_id
  role    = "roles/run.developer"
  member  = "serviceAccount:${google_service_account.controlplane.email}"
}

# Jobs run as the jobs' account; the control plane may act as that account and no other.
resource "google_service_account_iam_member" "controlplane_acts_as_jobs" {
  service_account_id = google_service_account.jobs.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.controlplane.email}"
}

resource "google_project_iam_member" "controlplane_datastore_user" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.controlplane.email}"
}

# docker logs history and the fallback when an agent link is down.
resource "google_project_iam_member" "controlplane_logging_viewer" {
  project = var.project_id
  role    = "roles/logging.viewer"
  member  = "serviceAccount:${google_service_account.controlplane.email}"
}

resource "google_pubsub_subscription_iam_member" "controlplane_events_subscriber" {
  subscription = google_pubsub_subscription.controlplane_events.name
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${google_service_account.controlplane.email}"
}

resource "google_artifact_registry_repository_iam_member" "controlplane_agent_writer" {
  location   = google_artifact_registry_repository.agent.location
  repository = google_artifact_registry_repository.agent.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.controlplane.email}"
}

# Writer, not only reader: docker commit pushes the committed images to TEAM_REPO/commits (docs/files.md).
resource "google_artifact_registry_repository_iam_member" "controlplane_team_writer" {
  location   = google_artifact_registry_repository.team.location
  repository = google_artifact_registry_repository.team.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.controlplane.email}"
}

resource "google_artifact_registry_repository_iam_member" "controlplane_dockerhub_reader" {
  location   = google_artifact_registry_repository.dockerhub.location
  repository = google_artifact_registry_repository.dockerhub.name
  role       = "roles/artifactregistry.reader"
  member     = "serviceAccount:${google_service_account.controlplane.email}"
}

# --- jobs (the containers, and the agent inside each) ---

# Agents dial back to the control plane with the jobs' identity token.
resource "google_cloud_run_v2_service_iam_member" "jobs_invoke_controlplane" {
  location = google_cloud_run_v2_service.controlplane.location
  name     = google_cloud_run_v2_service.controlplane.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.jobs.email}"
}

resource "google_artifact_registry_repository_iam_member" "jobs_agent_reader" {
  location   = google_artifact_registry_repository.agent.location
  repository = google_artifact_registry_repository.agent.name
  role       = "roles/artifactregistry.reader"
  member     = "serviceAccount:${google_service_account.jobs.email}"
}

# The control plane deletes a removed volume's objects and sums their sizes (docker volume rm/prune, system df).
resource "google_storage_bucket_iam_member" "controlplane_volumes_object_user" {
  bucket = google_storage_bucket.volumes.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.controlplane.email}"
}

# The jobs mount the bucket (Cloud Storage volumes: only-dir per volume); gcsfuse needs list, read, create, delete.
resource "google_storage_bucket_iam_member" "jobs_volumes_object_user" {
  bucket = google_storage_bucket.volumes.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.jobs.email}"
}

# --- execution-events function ---

resource "google_project_iam_member" "events_datastore_user" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.events.email}"
}

resource "google_cloud_run_v2_service_iam_member" "pusher_invokes_events" {
  location = google_cloud_run_v2_service.events.location
  name     = google_cloud_run_v2_service.events.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.events_pusher.email}"
}

# Pub/Sub's service agent mints the push subscription's OIDC tokens as the pusher account.
resource "google_service_account_iam_member" "pubsub_agent_mints_pusher_tokens" {
  service_account_id = google_service_account.events_pusher.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  depends_on = [google_project_service.enabled]
}

# --- the log sink ---

resource "google_pubsub_topic_iam_member" "sink_publishes_events" {
  topic  = google_pubsub_topic.execution_events.name
  role   = "roles/pubsub.publisher"
  member = google_logging_project_sink.execution_events.writer_identity
}

# --- team members ---

resource "google_cloud_run_v2_service_iam_member" "team_invokes_controlplane" {
  for_each = toset(var.team_members)

  location = google_cloud_run_v2_service.controlplane.location
  name     = google_cloud_run_v2_service.controlplane.name
  role     = "roles/run.invoker"
  member   = each.value
}

# --- Cloud Build (cloudbuild.yaml) ---

resource "google_service_account" "builder" {
  count = var.enable_cloud_build ? 1 : 0

  account_id   = "${var.service_name}-builder"
  display_name = "runsock Cloud Build deployer"

  depends_on = [google_project_service.enabled]
}

resource "google_project_iam_member" "builder_project_roles" {
  for_each = var.enable_cloud_build ? toset(["roles/run.developer", "roles/logging.logWriter"]) : toset([])

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.builder[0].email}"
}

resource "google_artifact_registry_repository_iam_member" "builder_team_writer" {
  count = var.enable_cloud_build ? 1 : 0

  location   = google_artifact_registry_repository.team.location
  repository = google_artifact_registry_repository.team.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.builder[0].email}"
}

# gcloud run deploy keeps each service's identity, which needs actAs on it.
resource "google_service_account_iam_member" "builder_acts_as_services" {
  for_each = var.enable_cloud_build ? {
    controlplane = google_service_account.controlplane.name
    events       = google_service_account.events.name
  } : {}

  service_account_id = each.value
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.builder[0].email}"
}
