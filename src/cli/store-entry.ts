export async function storeCommand(argv: string[]): Promise<number> {
  const { runStoreCommand } = await import('./store-command.js');
  await runStoreCommand(argv);
  return 0;
}
