# phpeek-pm as the entrypoint of the official PHP-FPM Alpine image: php-fpm (and whatever else
# your phpeek-pm.yaml lists: nginx, Horizon, queue workers, the scheduler) under one PID 1.
#
# Build context: the repository root, after `make build` (static, all features):
#   make build
#   docker build -f docker/php-fpm-alpine.Dockerfile -t my-laravel-app .
#
# The static binary does not care that Alpine uses musl or that Debian uses glibc: the same file
# works in php:8.3-fpm (Debian) images too.
FROM php:8.3-fpm-alpine

COPY build/phpeek-pm /usr/local/bin/phpeek-pm
COPY docker/php-fpm.yaml /etc/phpeek-pm/phpeek-pm.yaml

# Fail the image build, not the container start, on a broken configuration.
RUN ["/usr/local/bin/phpeek-pm", "check-config", "-c", "/etc/phpeek-pm/phpeek-pm.yaml"]

# Exec form, so phpeek-pm is PID 1 and receives `docker stop`'s SIGTERM directly. This replaces
# the base image's `docker-php-entrypoint php-fpm`.
ENTRYPOINT ["/usr/local/bin/phpeek-pm"]
CMD ["serve", "-c", "/etc/phpeek-pm/phpeek-pm.yaml"]
