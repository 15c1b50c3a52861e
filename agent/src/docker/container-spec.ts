/** The controller's container is part of the contract deploy and library-gen's smoke/verify share: catalog/controller/. */
export * from '../../../catalog/controller/container-spec';
