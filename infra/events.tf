# Cloud Run's own record of executions: system logs of every job → log sink → Pub/Sub → the execution-events
# function (writes Firestore even while no control plane instance runs) and the control plane's own subscription.

resource "google_pubsub_topic" "execution_events" {
  name = "${var.service_name}-execution-events"

  depends_on = [google_project_service.enabled]
}

resource "google_logging_project_sink" "execution_events" {
  name                   = "${var.service_name}-execution-events"
  destination            = "pubsub.googleapis.com/${google_pubsub_topic.execution_events.id}"
  filter                 = "resource.type=\"cloud_run_job\" AND logName:\"run.googleapis.com%2Fvarlog%2Fsystem\""
  unique_writer_identity = true
}

resource "google_cloud_run_v2_service" "events" {
  name                = "${var.service_name}-execution-events"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_INTERNAL_ONLY"
  deletion_protection = var.deletion_protection

  template {
    service_account                  = google_service_account.events.email
    max_instance_request_concurrency = 80
    timeout                          = "60s"

    scaling {
      min_instance_count = 0
      max_instance_count = 3
    }

    containers {
      image = var.functions_image

      resources {
        limits = {
          cpu    = "1"
          memory = "256Mi"
        }
        cpu_idle = true
      }

      env {
        name  = "RUNSOCK_PROJECT"
        value = var.project_id
      }
      env {
        name  = "RUNSOCK_FIRESTORE_DATABASE"
        value = google_firestore_database.runsock.name
      }
    }
  }

  # cloudbuild.yaml deploys new images; Terraform owns everything else.
  lifecycle {
    ignore_changes = [template[0].containers[0].image, client, client_version]
  }

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_subscription" "events_push" {
  name                       = "${var.service_name}-execution-events-push"
  topic                      = google_pubsub_topic.execution_events.id
  ack_deadline_seconds       = 30
  message_retention_duration = "86400s"

  push_config {
    push_endpoint = google_cloud_run_v2_service.events.uri
    oidc_token {
      service_account_email = google_service_account.events_pusher.email
      audience              = google_cloud_run_v2_service.events.uri
    }
  }

  retry_policy {
    minimum_backoff = "1s"
    maximum_backoff = "60s"
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [google_cloud_run_v2_service_iam_member.pusher_invokes_events]
}

# The control plane's live view of the same events while an instance runs. Short retention: what it misses while
# scaled to zero, the function has already written to Firestore.
resource "google_pubsub_subscription" "controlplane_events" {
  name                       = "${var.service_name}-execution-events-controlplane"
  topic                      = google_pubsub_topic.execution_events.id
  ack_deadline_seconds       = 30
  message_retention_duration = "600s"

  expiration_policy {
    ttl = ""
  }
}
