# A Debian 12 Laravel image with phpeek-pm (full build) as PID 1 running PHP-FPM, nginx,
# Horizon, Reverb, queue workers and the scheduler from docker/laravel/phpeek-pm.yaml.
#
# Build context (a directory laid out like this):
#   phpeek-pm            the static full binary (`make build` → build/phpeek-pm)
#   deploy/phpeek-pm.yaml, deploy/php-fpm.conf, deploy/nginx.conf    (docker/laravel/)
#   app/                 your Laravel application (artisan, public/, storage/, ...)
# then
#   docker build -f docker/laravel-debian.Dockerfile -t my-laravel-app CONTEXT
#   docker run -d -p 8080:8080 -e PHP_FPM_AUTOTUNE_PROFILE=medium --memory 1g my-laravel-app
#
# BASE defaults to Debian's slim image from a registry; the end-to-end test (tests/e2e/image.sh)
# passes an image it made with debootstrap + `docker import`, which already holds the packages,
# so the install step below is skipped there and nothing is downloaded.
ARG BASE=debian:bookworm-slim
FROM ${BASE}

# PHP-FPM, the PHP CLI (artisan), nginx and curl, from Debian's archive.
RUN if ! command -v php-fpm8.2 php nginx curl >/dev/null; then \
        apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
           php8.2-fpm php8.2-cli nginx-light curl ca-certificates \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    # `php-fpm` as the README's configs call it (Debian names it php-fpm8.2).
    && ln -sf /usr/sbin/php-fpm8.2 /usr/local/sbin/php-fpm

COPY phpeek-pm /usr/local/bin/phpeek-pm
COPY deploy/ /etc/phpeek-pm/
COPY app/ /var/www/html/
# storage/ is where the app, php-fpm and nginx write (caches, pid files, temp files).
RUN chown -R www-data:www-data /var/www/html/storage \
    # Fail the build, not the container start, on a broken configuration.
    && /usr/local/bin/phpeek-pm check-config -c /etc/phpeek-pm/phpeek-pm.yaml

ENV APP_DIR=/var/www/html \
    STACK_DIR=/etc/phpeek-pm \
    PHP_FPM_AUTOTUNE_PROFILE=light
WORKDIR /var/www/html
# nginx (8080), Reverb (8081), Prometheus metrics (9090). The API stays on loopback.
EXPOSE 8080 8081 9090

# Exec form: phpeek-pm is PID 1 and gets `docker stop`'s SIGTERM itself. Its shutdown_timeout
# (8 s) stays below docker stop's 10 s grace period.
ENTRYPOINT ["/usr/local/bin/phpeek-pm"]
CMD ["serve", "-c", "/etc/phpeek-pm/phpeek-pm.yaml"]
