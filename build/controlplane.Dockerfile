# The control plane image: two static binaries and the CA bundle, nothing else.
#
# Build it with scripts/build-images (or cloudbuild.yaml): the Go binaries are compiled outside the image
# (CGO_ENABLED=0, by the host's Go or the golang:1.26 builder step) and this file only assembles them, so it
# builds on a Docker Engine that cannot pull any base image. Build context: a staging directory holding
#   controlplane            the control plane (controlplane/cmd/controlplane)
#   agent                   the agent (agent/cmd/agent), layered by the control plane onto every user image
#   ca-certificates.crt     the CA bundle (TLS to Google APIs and registries)
FROM scratch

COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY agent /agent
COPY controlplane /controlplane

# The agent ships inside the control plane image, so a control plane always layers the agent it was built with.
ENV RUNSOCK_AGENT_BINARY=/agent \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt

# nonroot (distroless' uid): the control plane needs no privilege, it only serves HTTP on $PORT.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/controlplane"]
