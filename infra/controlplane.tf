# The control plane: the Docker Engine API for the whole team, one instance at a time (all state is in Firestore).
resource "google_cloud_run_v2_service" "controlplane" {
  name                = var.service_name
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = var.deletion_protection

  template {
    service_account                  = google_service_account.controlplane.email
    execution_environment            = "EXECUTION_ENVIRONMENT_GEN2"
    timeout                          = "3600s" # the longest a Cloud Run request (an agent link, logs -f) may last
    max_instance_request_concurrency = 1000    # one instance serves every client and agent stream

    scaling {
      min_instance_count = var.min_instances
      max_instance_count = 1
    }

    vpc_access {
      egress = "PRIVATE_RANGES_ONLY"
      network_interfaces {
        network    = google_compute_network.runsock.id
        subnetwork = google_compute_subnetwork.runsock.id
      }
    }

    containers {
      image = var.controlplane_image

      # h2c: end-to-end HTTP/2, so requests are not capped at 32 MiB and streams are full duplex.
      ports {
        name           = "h2c"
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = var.controlplane_cpu
          memory = var.controlplane_memory
        }
        cpu_idle          = false # CPU stays allocated while an instance runs: agent links and reconcilers work between requests
        startup_cpu_boost = true
      }

      env {
        name  = "RUNSOCK_PROJECT"
        value = var.project_id
      }
      env {
        name  = "RUNSOCK_REGION"
        value = var.region
      }
      env {
        name  = "RUNSOCK_FIRESTORE_DATABASE"
        value = google_firestore_database.runsock.name
      }
      env {
        name  = "RUNSOCK_PUBLIC_URL"
        value = local.controlplane_url
      }
      env {
        name  = "RUNSOCK_AGENT_URL"
        value = local.controlplane_url
      }
      env {
        name  = "RUNSOCK_AUDIENCE"
        value = local.controlplane_url
      }
      env {
        name  = "RUNSOCK_IDENTITY_MODE"
        value = "cloudrun"
      }
      env {
        name  = "RUNSOCK_ADMINS"
        value = join(",", var.admins)
      }
      env {
        name  = "RUNSOCK_ALLOW"
        value = local.docker_api_allow
      }
      env {
        name  = "RUNSOCK_ALLOW_ALL_INVOKERS"
        value = tostring(local.team_has_groups)
      }
      env {
        name  = "RUNSOCK_REGISTRY_HOST"
        value = local.registry_host
      }
      env {
        name  = "RUNSOCK_TEAM_REPO"
        value = google_artifact_registry_repository.team.repository_id
      }
      env {
        name  = "RUNSOCK_AGENT_REPO"
        value = google_artifact_registry_repository.agent.repository_id
      }
      env {
        name  = "RUNSOCK_DOCKERHUB_REPO"
        value = google_artifact_registry_repository.dockerhub.repository_id
      }
      env {
        name  = "RUNSOCK_JOB_SERVICE_ACCOUNT"
        value = google_service_account.jobs.email
      }
      env {
        name  = "RUNSOCK_VOLUMES_BUCKET"
        value = google_storage_bucket.volumes.name
      }
      env {
        name  = "RUNSOCK_TASK_TIMEOUT"
        value = var.task_timeout
      }
      env {
        name  = "RUNSOCK_AGENT_BINARY"
        value = "/agent" # baked into the control plane image (build/controlplane.Dockerfile)
      }
    }
  }

  # cloudbuild.yaml deploys new images; Terraform owns everything else.
  lifecycle {
    ignore_changes = [template[0].containers[0].image, client, client_version]
  }

  depends_on = [
    google_project_service.enabled,
    google_service_account_iam_member.controlplane_acts_as_jobs,
  ]
}

locals {
  # Who may use the Docker API: the team members and admins, never merely any invoker — the jobs' service account is
  # an invoker too (agents dial back), and any code in a container can get its token. The control plane cannot
  # resolve group membership from a token, so with a group among the members it admits every invoker and still
  # refuses the jobs' account by name (RUNSOCK_JOB_SERVICE_ACCOUNT).
  team_has_groups = anytrue([for m in var.team_members : startswith(m, "group:")])
  docker_api_allow = local.team_has_groups ? "" : join(",", concat(
    [for m in var.team_members : replace(m, "/^(user|serviceAccount|domain):/", "")],
    var.admins,
  ))
}
