# A `FROM scratch` image: the static phpeek-pm binary as PID 1, a config, and busybox for the
# children that need a shell. Nothing is pulled.
#
# Prepare the build context, then build:
#   make build-minimal                      # or `make build` for the full feature set
#   docker/rootfs.sh build/phpeek-pm-minimal build/image configs/examples/demo.yaml
#   docker build -t my-app build/image
#   docker run --rm -it my-app
#
# docker/rootfs.sh fills build/image/rootfs/ (binary at /usr/local/bin/phpeek-pm, config at
# /etc/phpeek-pm/phpeek-pm.yaml, /bin/busybox + applet symlinks, /etc/passwd with user app 1000)
# and copies this file to build/image/Dockerfile.
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/bin:/bin
# Exec form: phpeek-pm itself is PID 1 and receives `docker stop`'s SIGTERM.
ENTRYPOINT ["/usr/local/bin/phpeek-pm"]
CMD ["serve", "-c", "/etc/phpeek-pm/phpeek-pm.yaml"]
# No STOPSIGNAL needed: SIGTERM (the default) starts the graceful shutdown. Keep the global
# shutdown_timeout below `docker stop --time` (default 10 s).
