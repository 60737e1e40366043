<?php

namespace App\Console;

use Illuminate\Console\Scheduling\Schedule;
use Illuminate\Foundation\Console\Kernel as ConsoleKernel;

class Kernel extends ConsoleKernel
{
    /** The schedule `php artisan schedule:run` runs: one closure, due every minute. */
    protected function schedule(Schedule $schedule)
    {
        $schedule->call(function () {
            fwrite(STDOUT, "scheduled tick\n");
        })->everyMinute()->name('tick');
    }

    protected function commands()
    {
        require base_path('routes/console.php');
    }
}
