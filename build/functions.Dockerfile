# The execution-events function image (functions-framework-go, serves CloudEvents and Pub/Sub pushes on $PORT).
#
# Built by scripts/build-images or cloudbuild.yaml from a staging directory holding
#   execution-events        the function (functions/cmd/execution-events), static
#   ca-certificates.crt     the CA bundle (TLS to Firestore)
FROM scratch

COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY execution-events /execution-events

ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/execution-events"]
