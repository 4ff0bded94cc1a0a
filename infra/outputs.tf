# One URL everywhere: the service's deterministic URL is what the control plane expects as token audience
# (RUNSOCK_AUDIENCE), so clients and agents must use it rather than the service's other (hash-style) URL.
output "service_url" {
  description = "The control plane's URL: what localproxy --url takes, the token audience, and the URL agents dial."
  value       = local.controlplane_url
}

output "agent_url" {
  description = "The URL agents dial back to (the same as service_url)."
  value       = local.controlplane_url
}

output "localproxy_command" {
  description = "What a team member runs on their laptop (it signs requests with their gcloud identity)."
  value       = "localproxy --url ${local.controlplane_url} --socket $HOME/.runsock/docker.sock"
}

output "docker_host" {
  description = "The DOCKER_HOST value that points docker at the socket localproxy_command serves."
  value       = "unix://$HOME/.runsock/docker.sock"
}

output "project_id" {
  description = "The project runsock runs in."
  value       = var.project_id
}

output "region" {
  description = "The region of the control plane, the jobs and Artifact Registry."
  value       = var.region
}

output "artifact_registry_url" {
  description = "The team's image repository, REGION-docker.pkg.dev/PROJECT/REPO (the seed's AR_URL)."
  value       = local.team_repo_url
}

output "dockerhub_mirror_url" {
  description = "Docker Hub through Artifact Registry: docker.io/library/alpine is DOCKERHUB_MIRROR_URL/library/alpine."
  value       = "${local.registry_host}/${var.project_id}/${google_artifact_registry_repository.dockerhub.repository_id}"
}

output "list_jobs_command" {
  description = "gcloud command listing the Cloud Run jobs runsock created."
  value       = "gcloud run jobs list --project=${var.project_id} --region=${var.region} --filter=\"${local.job_labels_filter}\""
}

output "delete_jobs_command" {
  description = "gcloud command deleting every Cloud Run job runsock created (run it before terraform destroy)."
  value       = "gcloud run jobs list --project=${var.project_id} --region=${var.region} --filter=\"${local.job_labels_filter}\" --format=\"value(metadata.name)\" | xargs -r -n1 gcloud run jobs delete --project=${var.project_id} --region=${var.region} --quiet"
}

output "controlplane_service_account" {
  description = "Email of the control plane's service account."
  value       = google_service_account.controlplane.email
}

output "jobs_service_account" {
  description = "Email of the service account every container runs as."
  value       = google_service_account.jobs.email
}

output "volumes_bucket" {
  description = "Cloud Storage bucket holding docker volumes."
  value       = google_storage_bucket.volumes.name
}

output "cloud_build_submit_command" {
  description = "Builds, pushes and deploys runsock from a checkout with the runsock-builder account (empty when enable_cloud_build is false)."
  value       = var.enable_cloud_build ? "gcloud builds submit --project=${var.project_id} --region=${var.region} --config=cloudbuild.yaml --service-account=${google_service_account.builder[0].id} --substitutions=COMMIT_SHA=$(git rev-parse HEAD),_REGION=${var.region},_REPOSITORY=${google_artifact_registry_repository.team.repository_id},_SERVICE=${var.service_name}" : ""
}
