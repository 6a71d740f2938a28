CREATE TABLE `pool_observations` (
	`pair` text NOT NULL,
	`timestamp` integer NOT NULL,
	`price0_cumulative` text NOT NULL,
	`price1_cumulative` text NOT NULL,
	`token0` text NOT NULL,
	`block_number` integer NOT NULL,
	`observed_at` integer NOT NULL,
	PRIMARY KEY(`pair`, `timestamp`)
);
