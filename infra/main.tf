locals {
  # Every API the control plane, the jobs and the function call, plus what this module itself needs
  # (compute for the VPC, iam for the service accounts). infra/infracheck holds this list against the code.
  services = [
    "artifactregistry.googleapis.com",
    "compute.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "logging.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "storage.googleapis.com",
  ]

  firestore_location = var.firestore_location != "" ? var.firestore_location : var.region

  # The deterministic URL of the control plane service. Agents dial it; the service cannot read its own
  # uri attribute in its env without a dependency cycle, and this URL is stable across revisions.
  controlplane_url = "https://${var.service_name}-${data.google_project.this.number}.${var.region}.run.app"

  registry_host = "${var.region}-docker.pkg.dev"
  team_repo_url = "${local.registry_host}/${var.project_id}/${google_artifact_registry_repository.team.repository_id}"

  job_labels_filter = "metadata.labels.managed-by=runsock"
}

resource "google_project_service" "enabled" {
  for_each = toset(concat(local.services, var.enable_cloud_build ? ["cloudbuild.googleapis.com"] : []))

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

# Direct VPC egress (no Serverless VPC Access connector, so no fixed hourly cost): the control plane and the
# jobs reach private addresses of this network; everything else leaves through Google's public egress.
resource "google_compute_network" "runsock" {
  name                    = var.service_name
  auto_create_subnetworks = false

  depends_on = [google_project_service.enabled]
}

resource "google_compute_subnetwork" "runsock" {
  name                     = "${var.service_name}-${var.region}"
  region                   = var.region
  network                  = google_compute_network.runsock.id
  ip_cidr_range            = var.subnet_cidr
  private_ip_google_access = true
}

# Volumes: docker volumes are prefixes of this bucket, mounted into jobs with Cloud Storage FUSE.
resource "google_storage_bucket" "volumes" {
  name                        = "${var.project_id}-${var.service_name}-volumes"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = !var.deletion_protection

  depends_on = [google_project_service.enabled]
}

resource "google_firestore_database" "runsock" {
  name            = "(default)"
  location_id     = local.firestore_location
  type            = "FIRESTORE_NATIVE"
  deletion_policy = var.deletion_protection ? "ABANDON" : "DELETE"

  depends_on = [google_project_service.enabled]
}
