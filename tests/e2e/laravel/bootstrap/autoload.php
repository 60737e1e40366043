<?php
// Composer-free autoloading: Debian's php-laravel-framework (Laravel 8.83) installs the
// framework and its dependencies under /usr/share/php with one autoload.php; the
// application's own App\ classes load from app/ by PSR-4 rules.
require_once '/usr/share/php/Illuminate/autoload.php';

spl_autoload_register(function ($class) {
    if (strncmp($class, 'App\\', 4) !== 0) {
        return;
    }
    $file = __DIR__.'/../app/'.str_replace('\\', '/', substr($class, 4)).'.php';
    if (is_file($file)) {
        require $file;
    }
});
