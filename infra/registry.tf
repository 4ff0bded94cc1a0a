# The team's own images (what the seed calls AR_URL) and runsock's own images (controlplane, functions).
resource "google_artifact_registry_repository" "team" {
  location      = var.region
  repository_id = var.service_name
  description   = "Team images run by runsock"
  format        = "DOCKER"

  depends_on = [google_project_service.enabled]
}

# Images the control plane writes: a user image plus one layer holding the agent. They are a cache (keyed by the
# base digest and the agent version), so old ones are deleted and layered again on demand.
resource "google_artifact_registry_repository" "agent" {
  location               = var.region
  repository_id          = "${var.service_name}-agent"
  description            = "User images with the runsock agent layered on (written by the control plane)"
  format                 = "DOCKER"
  cleanup_policy_dry_run = false

  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      tag_state  = "ANY"
      older_than = "${var.agent_image_retention_days * 86400}s"
    }
  }

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 5
    }
  }

  depends_on = [google_project_service.enabled]
}

# docker.io/library/alpine:latest is REGION-docker.pkg.dev/PROJECT/dockerhub/library/alpine:latest.
resource "google_artifact_registry_repository" "dockerhub" {
  location      = var.region
  repository_id = "dockerhub"
  description   = "Docker Hub, cached (remote repository)"
  format        = "DOCKER"
  mode          = "REMOTE_REPOSITORY"

  remote_repository_config {
    description = "Docker Hub"
    docker_repository {
      public_repository = "DOCKER_HUB"
    }
  }

  depends_on = [google_project_service.enabled]
}
