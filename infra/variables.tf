variable "project_id" {
  description = "Google Cloud project that hosts the team's runsock (billing must be enabled)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID (6-30 lowercase letters, digits and hyphens), not a name or number."
  }
}

variable "region" {
  description = "Region of the control plane, the jobs, the function, Artifact Registry and Firestore."
  type        = string
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Cloud Run region such as us-central1 or europe-west1."
  }
}

variable "service_name" {
  description = "Name of the control plane's Cloud Run service; also the prefix of every other resource runsock creates."
  type        = string
  default     = "runsock"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.service_name))
    error_message = "service_name must be 3-20 lowercase letters, digits or hyphens, starting with a letter (it prefixes service account IDs, which are at most 30 characters)."
  }
}

variable "team_members" {
  description = "IAM members allowed to use the control plane (granted roles/run.invoker), e.g. [\"user:alice@example.com\", \"group:team@example.com\"]."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.team_members : can(regex("^(user|group|serviceAccount|domain):.+", m))])
    error_message = "Each team member must be an IAM member string: user:EMAIL, group:EMAIL, serviceAccount:EMAIL or domain:DOMAIN."
  }
}

variable "admins" {
  description = "Emails (no user: prefix) of team members who may see and act on every user's containers."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.admins : can(regex("^[^:@\\s]+@[^:@\\s]+$", a))])
    error_message = "admins are plain email addresses, without a user: prefix."
  }
}

variable "min_instances" {
  description = "Minimum control plane instances. 0 (default): an idle team pays nothing for compute and the first request cold-starts. 1: no cold start, billed around the clock."
  type        = number
  default     = 0

  validation {
    condition     = contains([0, 1], var.min_instances)
    error_message = "min_instances must be 0 or 1: the control plane runs as a single instance (max 1)."
  }
}

variable "controlplane_image" {
  description = "Control plane image used when the service is first created. Later deploys (cloudbuild.yaml, gcloud run deploy) replace it and Terraform leaves their choice alone. The default is Google's sample image: it serves nothing useful until the first build is deployed."
  type        = string
  default     = "us-docker.pkg.dev/cloudrun/container/hello:latest"
}

variable "functions_image" {
  description = "Execution-events function image used when the service is first created; later deploys replace it as for controlplane_image."
  type        = string
  default     = "us-docker.pkg.dev/cloudrun/container/hello:latest"
}

variable "controlplane_cpu" {
  description = "vCPUs of the control plane instance."
  type        = string
  default     = "1"

  validation {
    condition     = contains(["1", "2", "4"], var.controlplane_cpu)
    error_message = "controlplane_cpu must be 1, 2 or 4."
  }
}

variable "controlplane_memory" {
  description = "Memory of the control plane instance (Kubernetes quantity, e.g. 512Mi, 1Gi)."
  type        = string
  default     = "512Mi"

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.controlplane_memory))
    error_message = "controlplane_memory must be a quantity in Mi or Gi, e.g. 512Mi."
  }
}

variable "task_timeout" {
  description = "Longest a container may run before Cloud Run ends it (Go duration, at most 168h)."
  type        = string
  default     = "24h"

  validation {
    condition     = can(regex("^[0-9]+(s|m|h)$", var.task_timeout))
    error_message = "task_timeout must be a whole number of seconds, minutes or hours, e.g. 3600s, 90m or 24h."
  }
}

variable "agent_image_retention_days" {
  description = "Agent-layered images (runsock-agent repository) older than this are deleted by Artifact Registry's cleanup policy; the control plane layers them again on demand."
  type        = number
  default     = 30

  validation {
    condition     = var.agent_image_retention_days >= 1 && var.agent_image_retention_days <= 365
    error_message = "agent_image_retention_days must be between 1 and 365."
  }
}

variable "subnet_cidr" {
  description = "IP range of the subnet used for the control plane's and the jobs' Direct VPC egress."
  type        = string
  default     = "10.8.0.0/24"

  validation {
    condition     = can(cidrhost(var.subnet_cidr, 0))
    error_message = "subnet_cidr must be a valid IPv4 CIDR block."
  }
}

variable "firestore_location" {
  description = "Firestore location; empty means the region. Use nam5 or eur3 for a multi-region database."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^([a-z]+-[a-z]+[0-9]|nam[0-9]+|eur[0-9]+)?$", var.firestore_location))
    error_message = "firestore_location must be empty, a region such as us-central1, or a multi-region such as nam5 or eur3."
  }
}

variable "enable_cloud_build" {
  description = "Enable Cloud Build and create the runsock-builder service account that cloudbuild.yaml deploys with."
  type        = bool
  default     = true
}

variable "deletion_protection" {
  description = "Protect the Firestore database, the volumes bucket and the services from terraform destroy."
  type        = bool
  default     = true
}
