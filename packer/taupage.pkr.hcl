# The Taupage machine image: one build, two sources, the same provisioning.
#   amazon-ebs.release  the AMI teams launch (packer/README.md)
#   docker.local        the same image as a Docker image, baked and booted here (scripts/bake-local)
# Packer 1.6.6 (Debian's) validates it: HCL2 without required_plugins or data blocks.

packer {
  required_version = ">= 1.6.6"
}

variable "version" {
  type        = string
  description = "The image's version (tag Version); the agent's own is printed by taupage --version."
}

variable "commit_id" {
  type        = string
  default     = "unknown"
  description = "Commit the image was built from (tag CommitID)."
}

variable "binary" {
  type        = string
  description = "The agent's single executable (npm run build:sea: agent/dist/taupage), installed as /usr/bin/taupage."
}

variable "even_public_key_file" {
  type        = string
  description = "Even's public key: the only key granting-service accepts, with the forced command taupage ssh-hook."
}

variable "remote_host_known_hosts" {
  type        = string
  default     = ""
  description = "known_hosts lines of the hosts Even may hop to with --remote-host (installed as /etc/taupage/ssh_known_hosts); empty: every hop is refused."
}

variable "pierone_registries" {
  type        = list(string)
  default     = ["pierone.stups.zalan.do"]
  description = "Registries that are Pier One: images from them are pulled only when Pier One trusts them."
}

variable "region" {
  type    = string
  default = "eu-central-1"
}

variable "instance_type" {
  type    = string
  default = "t3.small"
}

variable "base_ami_name" {
  type        = string
  default     = "debian-12-amd64-*"
  description = "Name filter of the base AMI; the newest match is used."
}

variable "base_ami_owner" {
  type        = string
  default     = "136693071363"
  description = "Account that publishes the base AMI (Debian's)."
}

variable "root_volume_gb" {
  type    = number
  default = 8
}

variable "kms_key_id" {
  type        = string
  default     = ""
  description = "KMS key for the encrypted root volume and snapshot; empty: the account's default EBS key."
}

variable "base_image" {
  type        = string
  default     = "taupage/base:latest"
  description = "docker.local only: the Debian base made by scripts/bake-local."
}

variable "bake_inputs" {
  type        = string
  default     = ""
  description = "docker.local only: hash of everything baked in, a label that lets scripts/bake-local skip an unchanged bake."
}

locals {
  build_date = formatdate("YYYY-MM-DD'T'hh:mm:ssZ", timestamp())
  build_id   = formatdate("YYYYMMDDhhmmss", timestamp())
}

source "amazon-ebs" "release" {
  region        = var.region
  instance_type = var.instance_type
  source_ami_filter {
    filters = {
      name                = var.base_ami_name
      architecture        = "x86_64"
      root-device-type    = "ebs"
      virtualization-type = "hvm"
    }
    owners      = [var.base_ami_owner]
    most_recent = true
  }
  ssh_username = "admin"
  ami_name     = "taupage-${var.version}-${local.build_id}"
  # The root volume is encrypted on the build instance and in the AMI's snapshot.
  encrypt_boot = true
  kms_key_id   = var.kms_key_id
  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_size           = var.root_volume_gb
    volume_type           = "gp3"
    iops                  = 3000
    throughput            = 125
    encrypted             = true
    delete_on_termination = true
  }
  tags = {
    Name      = "taupage-${var.version}"
    Version   = var.version
    BuildDate = local.build_date
    CommitID  = var.commit_id
  }
  run_tags = {
    Name = "packer taupage-${var.version}"
  }
}

source "docker" "local" {
  image  = var.base_image
  pull   = false
  commit = true
  # packer runs the build container with --entrypoint=/bin/sh and commit keeps it: the image's
  # entry point is set back to systemd here (ENTRYPOINT [] would not reset it).
  changes = [
    "ENTRYPOINT [\"/sbin/init\"]",
    "CMD []",
    "LABEL org.taupage.version=${var.version} org.taupage.commit=${var.commit_id} org.taupage.build-date=${local.build_date} org.taupage.bake-inputs=${var.bake_inputs}",
  ]
}

build {
  sources = ["source.amazon-ebs.release", "source.docker.local"]

  provisioner "shell" {
    inline = ["rm -rf /tmp/taupage", "mkdir -p /tmp/taupage"]
  }
  provisioner "file" {
    source      = var.binary
    destination = "/tmp/taupage/taupage"
  }
  provisioner "file" {
    source      = var.even_public_key_file
    destination = "/tmp/taupage/even.pub"
  }
  provisioner "file" {
    sources     = ["${path.root}/packages.txt", "${path.root}/../systemd", "${path.root}/../docs"]
    destination = "/tmp/taupage/"
  }

  # The scripts run as root: the docker source is root already; on EC2 they run through sudo.
  provisioner "shell" {
    execute_command = "chmod +x {{ .Path }}; if [ \"$(id -u)\" = 0 ]; then {{ .Vars }} {{ .Path }}; else sudo env {{ .Vars }} {{ .Path }}; fi"
    environment_vars = [
      "TAUPAGE_PIERONE_REGISTRIES=${join(",", var.pierone_registries)}",
      "TAUPAGE_REMOTE_HOST_KNOWN_HOSTS_B64=${base64encode(var.remote_host_known_hosts)}",
    ]
    scripts = [
      "${path.root}/scripts/10-packages.sh",
      "${path.root}/scripts/20-taupage.sh",
      "${path.root}/scripts/90-cleanup.sh",
    ]
  }

  post-processor "docker-tag" {
    only       = ["docker.local"]
    repository = "taupage/image"
    tags       = ["local"]
  }
}
