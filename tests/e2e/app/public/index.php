<?php
// The page the end-to-end test requests through nginx → php-fpm. It reports what the test must
// see from inside a PHP-FPM worker: the pool size phpeek-pm's autotune exported
// (PHP_FPM_MAX_CHILDREN, passed through because the pool has clear_env = no), the worker's own
// pid (it changes when php-fpm is restarted), and who it runs as.
declare(strict_types=1);

header('Content-Type: application/json');
$path = parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH);

if ($path === '/up') {
    // Laravel's health route: what nginx's health check asks for.
    echo json_encode(['status' => 'up']), "\n";
    return;
}

$user = function_exists('posix_geteuid') ? (posix_getpwuid(posix_geteuid())['name'] ?? null) : null;
echo json_encode([
    'app' => 'phpeek-pm-e2e',
    'sapi' => PHP_SAPI,
    'pid' => getmypid(),
    'user' => $user,
    'php_fpm_pm' => getenv('PHP_FPM_PM'),
    'php_fpm_max_children' => getenv('PHP_FPM_MAX_CHILDREN'),
    // Every PHP_FPM_* variable, so the test can check the pool file against them.
    'php_fpm_env' => array_filter(getenv(), fn ($k) => str_starts_with($k, 'PHP_FPM_'), ARRAY_FILTER_USE_KEY),
    'config_cached' => is_file(__DIR__ . '/../storage/config.cache.php'),
]), "\n";
